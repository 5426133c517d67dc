/**
 * What crosses the queue: a camera sends its JPEG frame as a `uint8` tensor, a reader host
 * answers with the best plate's text (UTF-8 bytes) and confidence. `plateTarget` puts the LPR
 * example's two-stage PlateReader behind InferenceWorker: jobs taken at once are read at once,
 * so the detector and recogniser batch across them.
 */
import type { InferResult, Tensor } from 'salama/gpu';
import type { InferenceTarget } from 'salama/scaling/bullmq';
import { decodeImage } from '../lpr-service/images.js';
import type { PlateReader } from '../lpr-service/plate-reader.js';

export interface Reading {
  readonly text: string;
  readonly confidence: number;
}

/** A frame's bytes as the job's input. */
export function frameInput(jpeg: Uint8Array): Record<string, Tensor> {
  return { frame: { dtype: 'uint8', dims: [jpeg.byteLength], data: jpeg } };
}

/** The answer a reader host sends back. */
export function readingOutput(reading: Reading): InferResult {
  const text = new TextEncoder().encode(reading.text);
  return {
    text: { dtype: 'uint8', dims: [text.byteLength], data: text },
    confidence: { dtype: 'float32', dims: [1], data: Float32Array.of(reading.confidence) },
  };
}

/** The answer back as text and confidence. */
export function readingFrom(result: InferResult): Reading {
  const text = result.text?.data;
  const confidence = result.confidence?.data;
  if (!(text instanceof Uint8Array) || !(confidence instanceof Float32Array))
    throw new Error('expected a result with text (uint8) and confidence (float32) tensors');
  return { text: new TextDecoder().decode(text), confidence: confidence[0] ?? 0 };
}

/** Reads the best plate of each frame a job carries. */
export function plateTarget(reader: PlateReader): InferenceTarget {
  return {
    async infer(input) {
      const frame = (input as Record<string, Tensor>).frame;
      if (frame?.dtype !== 'uint8')
        throw new Error('expected an input named frame: the JPEG bytes as a uint8 tensor');
      const [best] = await reader.read(await decodeImage(frame.data as Uint8Array));
      return readingOutput(best ?? { text: '', confidence: 0 });
    },
  };
}
