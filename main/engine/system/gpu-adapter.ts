/** What the studio knows of a WebGPU adapter (backend/webgpu.ts describes it; the memory guard reads its limits). */
export interface AdapterDescription {
  vendor: string;
  architecture: string;
  description: string;
  isFallback: boolean;
  /** The limits that bound what we can put on the device, in bytes (and the binding limit a shader sees). */
  limits: { maxBufferSize: number; maxStorageBufferBindingSize: number; maxComputeWorkgroupStorageSize: number };
  features: string[];
  shaderF16: boolean;
}
