// Point Dawn (npm `webgpu`) at a Vulkan driver before any device is created (see src/node/webgpu.ts).
import { chooseVulkanDriver } from '../../src/node/webgpu.ts';

chooseVulkanDriver();
