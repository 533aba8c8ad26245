# Sourced by the kit's scripts on the GPU machine: unpack Node (/tmp/node) and Dawn's addon, install the
# Vulkan loader and glvnd (the NVIDIA ICD needs them), and point Vulkan at the NVIDIA driver.
xz -dc node.xz > /tmp/node && chmod +x /tmp/node
xz -dc dawn.node.xz > node_modules/webgpu/dist/linux-x64/dawn.node
for d in *.deb; do dpkg -x "$d" /; done; ldconfig
for f in /usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json /etc/vulkan/icd.d/nvidia_icd.json /usr/share/vulkan/icd.d/nvidia_icd.json; do
  [ -f "$f" ] && export VK_ICD_FILENAMES=$f && break
done
export XDG_RUNTIME_DIR=/tmp MOTG_FIXTURES=$PWD/fixtures
nvidia-smi -L
