// Included first by every compute shader.
#extension GL_EXT_buffer_reference : require
#extension GL_EXT_buffer_reference2 : require
#extension GL_EXT_shader_explicit_arithmetic_types : require
#extension GL_EXT_scalar_block_layout : require

// Raw views of device memory. A kernel receives uint64_t addresses in its push
// constants and reads them through these types: f32(p.x).v[i].
layout(buffer_reference, scalar, buffer_reference_align = 4) buffer f32 { float v[]; };
layout(buffer_reference, scalar, buffer_reference_align = 4) buffer u32 { uint v[]; };
layout(buffer_reference, scalar, buffer_reference_align = 4) buffer i32 { int v[]; };
layout(buffer_reference, std430, buffer_reference_align = 16) buffer f32x4 { vec4 v[]; };

// Linear invocation index for 1-D work dispatched with vkd_stream_dispatch_1d, which
// spreads the workgroups over x and y to stay inside maxComputeWorkGroupCount.
// Indices are 32-bit (GLSL indexes arrays with int/uint only). A macro, not a function:
// gl_WorkGroupSize is only known after the shader's own local_size declaration.
#define vkd_global_id() \
    ((gl_WorkGroupID.y * gl_NumWorkGroups.x + gl_WorkGroupID.x) * gl_WorkGroupSize.x + gl_LocalInvocationID.x)
