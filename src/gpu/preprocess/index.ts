/**
 * Image preprocessing for vision models: HWC 8-bit RGB(A)/BGR(A) frames to normalised NCHW
 * float32 tensors, resized (stretch, YOLO letterbox, PaddleOCR fit-height), normalised and
 * transposed in one pass, written in place into a caller's (pooled, shared) array so a batch is
 * assembled without copies.
 */
export type { ImageFormat, ImageInput } from './image.js';
export type { PreprocessResult } from './placement.js';
export { placeImage } from './placement.js';
export { ImagePreprocessor, preprocessImage } from './preprocessor.js';
export type {
  ChannelOrder,
  PreprocessSpec,
  ResizeMode,
  ResolvedPreprocessSpec,
  Triple,
} from './spec.js';
export { preprocessedLength } from './spec.js';
