// Node only: WebGPU through Dawn (npm `webgpu`). Picks a Vulkan driver before the first device:
// lavapipe (Mesa ≥ 25, bookworm-backports; ~10× faster than SwiftShader), else Chromium's SwiftShader,
// unless VK_ICD_FILENAMES is already set (e.g. the NVIDIA driver on the GPU machine).
import { existsSync } from 'node:fs';

const ICD_CANDIDATES = [
  { icd: '/usr/share/vulkan/icd.d/lvp_icd.json', libDir: null },
  { icd: '/usr/lib/chromium/vk_swiftshader_icd.json', libDir: '/usr/lib/chromium' },
];

export function chooseVulkanDriver(): void {
  process.env.XDG_RUNTIME_DIR ??= '/tmp';
  if (process.env.VK_ICD_FILENAMES) return;
  if (existsSync('/usr/share/vulkan/icd.d/nvidia_icd.json')) return; // a real GPU: let the loader find it
  const found = ICD_CANDIDATES.find((c) => existsSync(c.icd));
  if (!found) return;
  process.env.VK_ICD_FILENAMES = found.icd;
  if (found.libDir) process.env.LD_LIBRARY_PATH = `${found.libDir}:${process.env.LD_LIBRARY_PATH ?? ''}`;
}

// Dawn's Node object must stay referenced for the whole process: if it is garbage collected, the process
// later dies (segfault or std::system_error). Keep it here forever.
let keepAlive: unknown = null;

/** The `navigator.gpu` equivalent for Node. */
export async function nodeGpu(): Promise<GPU> {
  chooseVulkanDriver();
  const { create, globals } = await import('webgpu');
  Object.assign(globalThis, globals);
  if (!keepAlive) keepAlive = create([]);
  return keepAlive as GPU;
}
