/**
 * Licence plates from an image in two batched stages, each a GPUOptimizer over PP-OCRv4:
 * the DB detector finds text regions (the frame is letterboxed to 512×320 inside the worker),
 * then each region is cropped and read by the recogniser (fit to height 48, up to 320 wide,
 * its output trimmed to the crop). Concurrent requests share batches in both stages.
 */
import type { MeterProvider } from '@opentelemetry/api';
import { GPUOptimizer, type ImageInput, onnxRuntime, type Tensor } from 'salama/gpu';
import { crop } from './images.js';
import { ctcDecode, loadDictionary, modelPaths } from './ocr-models.js';
import { textBoxes } from './text-boxes.js';

export interface Plate {
  readonly text: string;
  /** Mean probability of the read characters, 0–1. */
  readonly confidence: number;
  /** In image pixels. */
  readonly box: {
    readonly x: number;
    readonly y: number;
    readonly width: number;
    readonly height: number;
  };
}

export interface PlateReaderOptions {
  /** Worker threads per stage. @default 1 */
  readonly instances?: number;
  /** Regions whose reading is shorter are dropped. @default 4 */
  readonly minLength?: number;
  /** Where the optimizers' metrics go. @default the global OpenTelemetry provider */
  readonly meterProvider?: MeterProvider;
}

const DET_WIDTH = 512;
const DET_HEIGHT = 320;

export class PlateReader {
  readonly detector: GPUOptimizer;
  readonly recognizer: GPUOptimizer;
  readonly #dictionary = loadDictionary();
  readonly #minLength: number;

  constructor(options: PlateReaderOptions = {}) {
    const instances = options.instances ?? 1;
    this.#minLength = options.minLength ?? 4;
    this.detector = new GPUOptimizer({
      runtime: onnxRuntime({
        model: modelPaths.detector,
        intraOpNumThreads: 1,
        label: 'ppocr-det',
      }),
      instances,
      ...(options.meterProvider ? { meterProvider: options.meterProvider } : {}),
      maxBatchSize: 4,
      maxQueueDelayMs: 2,
      // PaddleOCR's NormalizeImage: ImageNet constants applied to the planes in BGR order.
      preprocess: {
        width: DET_WIDTH,
        height: DET_HEIGHT,
        resize: 'letterbox',
        mean: [0.485, 0.456, 0.406],
        std: [0.229, 0.224, 0.225],
        channelOrder: 'bgr',
      },
    });
    this.recognizer = new GPUOptimizer({
      runtime: onnxRuntime({
        model: modelPaths.recognizer,
        intraOpNumThreads: 1,
        label: 'ppocr-rec',
      }),
      instances,
      ...(options.meterProvider ? { meterProvider: options.meterProvider } : {}),
      maxBatchSize: 16,
      maxQueueDelayMs: 2,
      preprocess: {
        width: 320,
        height: 48,
        resize: 'fit-height',
        mean: [0.5, 0.5, 0.5],
        std: [0.5, 0.5, 0.5],
        channelOrder: 'bgr',
        unpad: { axis: 0, scale: 1 / 8, offset: 3, rounding: 'floor' },
      },
    });
  }

  async ready(): Promise<void> {
    await Promise.all([this.detector.ready(), this.recognizer.ready()]);
  }

  async read(image: ImageInput): Promise<Plate[]> {
    const { outputs, placement } = await this.detector.inferImage(image);
    const map = Object.values(outputs)[0] as Tensor;
    const boxes = textBoxes(map.data as Float32Array, DET_WIDTH, DET_HEIGHT).map((b) => ({
      x: (b.x - placement.padLeft) / placement.scaleX,
      y: (b.y - placement.padTop) / placement.scaleY,
      width: b.width / placement.scaleX,
      height: b.height / placement.scaleY,
    }));
    const readings = await Promise.all(
      boxes
        .filter((b) => b.width >= 8 && b.height >= 8)
        .map(async (box) => {
          const result = await this.recognizer.inferImage(crop(image, box));
          const probs = Object.values(result.outputs)[0] as Tensor;
          const [steps = 0, classes = 0] = probs.dims;
          const { text, confidence } = ctcDecode(
            probs.data as Float32Array,
            steps,
            classes,
            this.#dictionary,
          );
          return { text, confidence, box: roundBox(box) };
        }),
    );
    return readings
      .filter((r) => r.text.replace(/\s+/g, '').length >= this.#minLength)
      .sort((a, b) => b.confidence - a.confidence);
  }

  async close(): Promise<void> {
    await Promise.all([this.detector.close(), this.recognizer.close()]);
  }
}

const roundBox = (b: { x: number; y: number; width: number; height: number }) => ({
  x: Math.round(b.x),
  y: Math.round(b.y),
  width: Math.round(b.width),
  height: Math.round(b.height),
});
