/**
 * Options of `S3BlobStore`, checked once at construction. Only types come from the AWS SDK
 * here; they are erased, so this file loads nothing of it.
 */
import type { S3Client, S3ClientConfig } from '@aws-sdk/client-s3';
import { z } from 'zod';
import { checkBlobKey } from '../blob/blob-store.js';

const MiB = 1024 * 1024;
/** S3 takes parts of 5 MiB to 5 GiB (the last may be smaller). */
const MIN_PART_BYTES = 5 * MiB;
const MAX_PART_BYTES = 5 * 1024 * MiB;

const isS3Client = (v: unknown) =>
  typeof v === 'object' &&
  v !== null &&
  typeof (v as S3Client).send === 'function' &&
  typeof (v as S3Client).destroy === 'function';

const isPrefix = (prefix: string) => {
  if (prefix === '') return true;
  try {
    checkBlobKey(prefix.slice(0, -1));
    return prefix.endsWith('/');
  } catch {
    return false;
  }
};

export const s3BlobStoreOptionsSchema = z
  .strictObject({
    /** An S3Client you made; the store uses it and leaves it open on `close()`. */
    client: z.custom<S3Client>(isS3Client, { message: 'an S3Client' }).optional(),
    /** Configuration of an S3Client the store makes, and destroys on `close()`. */
    clientConfig: z
      .custom<S3ClientConfig>((v) => typeof v === 'object' && v !== null && !Array.isArray(v), {
        message: 'an S3ClientConfig object',
      })
      .optional(),
    /** The bucket holding the objects; it must exist. */
    bucket: z.string().min(1),
    /** Put before every key, e.g. `backups/lpr/`; `list` returns keys without it. @default '' */
    prefix: z
      .string()
      .refine(isPrefix, '"" or "/"-separated key segments ending in "/", such as "backups/lpr/"')
      .default(''),
    /**
     * Bytes per part of a multipart upload, 5 MiB to 5 GiB. A streamed put longer than one
     * part holds up to five parts in memory (four uploading, one filling); objects are
     * limited to 10,000 parts (about 78 GiB at the default).
     * @default 8 MiB
     */
    partSize: z
      .number()
      .int()
      .min(MIN_PART_BYTES)
      .max(MAX_PART_BYTES)
      .default(8 * MiB),
    /**
     * How `put(..., { ifNotExists })` keeps the first object. `'if-none-match'` sends S3's
     * conditional write (`If-None-Match: *`), which the server checks atomically (AWS S3 since
     * August 2024; check that other servers honour it). `'head-then-put'` is for servers that
     * ignore the header, such as s3rver: a HEAD, then the write. It is **not atomic**: two writers racing for a free
     * key can both succeed, the later one replacing the earlier.
     * @default 'if-none-match'
     */
    conditionalWrites: z.enum(['if-none-match', 'head-then-put']).default('if-none-match'),
  })
  .superRefine((options, ctx) => {
    if ((options.client === undefined) === (options.clientConfig === undefined))
      ctx.addIssue({
        code: 'custom',
        path: ['client'],
        message: 'exactly one of client (an S3Client) and clientConfig (an S3ClientConfig)',
        input: options.client,
      });
  });

/** Options of `S3BlobStore`: exactly one of `client` and `clientConfig`, and the rest. */
export type S3BlobStoreOptions = Omit<
  z.input<typeof s3BlobStoreOptionsSchema>,
  'client' | 'clientConfig'
> &
  (
    | {
        /** An S3Client you made; the store uses it and leaves it open on `close()`. */
        client: S3Client;
        clientConfig?: undefined;
      }
    | {
        /** Configuration of an S3Client the store makes, and destroys on `close()`. */
        clientConfig: S3ClientConfig;
        client?: undefined;
      }
  );
