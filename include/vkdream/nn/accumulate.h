// dst += alpha * src: how gradients from several branches are summed.
#ifndef VKDREAM_NN_ACCUMULATE_H
#define VKDREAM_NN_ACCUMULATE_H
#include "vkdream/gpu.h"

void vkd_accumulate(vkd_stream* s, vkd_addr dst, vkd_addr src, float alpha, uint32_t n); // dst, src: (n,)
void vkd_ref_accumulate(double* dst, const double* src, double alpha, uint64_t n);

#endif
