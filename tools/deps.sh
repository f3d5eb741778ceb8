#!/usr/bin/env bash
# Installs the Debian packages vkdream needs to build, run and test, if any are missing.
# Runs apt-get as root, or through sudo.
set -euo pipefail

packages=(
  build-essential cmake pkg-config
  libvulkan-dev mesa-vulkan-drivers vulkan-validationlayers glslang-tools spirv-tools
  libglfw3-dev libpng-dev libtinyobjloader-dev libcjson-dev libinih-dev
  xvfb clang libclang-rt-14-dev libutf8proc-dev assimp-utils
)
# Node.js for the Khronos glTF validator (npm); an existing node install (e.g. NodeSource,
# which bundles npm) is kept, since Debian's npm package conflicts with it.
command -v npm >/dev/null || packages+=(nodejs npm)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
install_gltf_validator() {
  # The glTF validator checks the GLB writer in the tests; without network this only warns.
  if ! NODE_PATH="$(npm root -g)" node -e "require('gltf-validator')" 2>/dev/null; then
    echo "vkdream: installing the Khronos glTF validator (npm gltf-validator)" >&2
    $sudo npm install -g --no-fund --no-audit gltf-validator@2.0.0-dev.3.10 >&2 ||
      echo "vkdream: warning: npm could not install gltf-validator; the GLB validation test will be skipped" >&2
  fi
}
sudo=""
if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi
if [ ${#missing[@]} -eq 0 ]; then install_gltf_validator; exit 0; fi

echo "vkdream: installing ${missing[*]}" >&2
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null || { echo "vkdream: need root or sudo to install: ${missing[*]}" >&2; exit 1; }
  sudo="sudo"
fi
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -q
$sudo apt-get install -y -q --no-install-recommends "${missing[@]}"
install_gltf_validator
