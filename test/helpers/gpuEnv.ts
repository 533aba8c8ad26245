// Point Dawn (npm `webgpu`) at a Vulkan driver before any device is created.
// lavapipe (Mesa >= 25, from bookworm-backports) is ~10x faster than SwiftShader; fall back to the
// SwiftShader ICD that Debian's chromium package ships. An explicit VK_ICD_FILENAMES wins.
import { existsSync } from 'node:fs';

const candidates = ['/usr/share/vulkan/icd.d/lvp_icd.json', '/usr/lib/chromium/vk_swiftshader_icd.json'];
if (!process.env.VK_ICD_FILENAMES) {
  const found = candidates.find((p) => existsSync(p));
  if (found) process.env.VK_ICD_FILENAMES = found;
  if (found?.includes('chromium')) process.env.LD_LIBRARY_PATH = '/usr/lib/chromium';
}
process.env.XDG_RUNTIME_DIR ??= '/tmp';
