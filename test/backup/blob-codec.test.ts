import { createCipheriv, createHash, randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { type CodecOptions, decodeBlob, encodeBlob } from '../../src/backup/blob-codec.js';
import { SalamaError } from '../../src/core/errors.js';

/** Reproducible incompressible bytes, like a chunk of an H.264 recording. */
function pseudoRandomBytes(length: number, seed = 1): Buffer {
  const key = createHash('sha256').update(`codec test ${seed}`).digest();
  return createCipheriv('aes-256-ctr', key, Buffer.alloc(16)).update(Buffer.alloc(length));
}

/** About `length` bytes of alert records as JSON, the kind of data that compresses. */
function alertsJson(length: number): Buffer {
  const records: string[] = [];
  let size = 2;
  for (let i = 0; size < length; i++) {
    const record = JSON.stringify({
      camera: `cam-${i % 37}`,
      plate: `KA-${String(i % 100).padStart(2, '0')}-AB-${1000 + (i % 9000)}`,
      confidence: ((i * 7919) % 1000) / 1000,
      at: new Date(Date.UTC(2026, 10, 1) + i * 1500).toISOString(),
    });
    records.push(record);
    size += record.length + 1;
  }
  return Buffer.from(`[${records.join(',')}]`);
}

function thrown(fn: () => unknown): SalamaError {
  try {
    fn();
  } catch (error) {
    if (error instanceof SalamaError) return error;
    throw error;
  }
  throw new Error('expected an error');
}

const key = randomBytes(32);
const variants: [string, CodecOptions][] = [
  ['auto, no key', { compression: 'auto' }],
  ['off, no key', { compression: 'off' }],
  ['auto, encrypted', { compression: 'auto', key }],
  ['off, encrypted', { compression: 'off', key }],
  ['auto level 9, encrypted', { compression: 'auto', key, level: 9 }],
];

describe('blob codec', () => {
  it.each(variants)('round-trips random, JSON, mixed and empty chunks (%s)', (_, options) => {
    const mixed = Buffer.concat([alertsJson(100_000), pseudoRandomBytes(900_000)]);
    for (const plain of [
      pseudoRandomBytes(1024 * 1024 + 5),
      alertsJson(1024 * 1024),
      alertsJson(300),
      mixed,
      Buffer.alloc(0),
      Buffer.from([0]),
    ]) {
      const stored = encodeBlob(plain, options);
      expect(Buffer.from(decodeBlob(stored, options, 'blob')).equals(plain)).toBe(true);
    }
  });

  it('stores random data raw: one format byte, plus nonce and tag when encrypted', () => {
    const plain = pseudoRandomBytes(1024 * 1024, 2);
    const stored = encodeBlob(plain, { compression: 'auto' });
    expect(stored).toHaveLength(plain.length + 1);
    expect(stored[0]).toBe(0);
    expect(Buffer.from(stored.subarray(1)).equals(plain)).toBe(true);
    expect(encodeBlob(plain, { compression: 'auto', key })).toHaveLength(plain.length + 1 + 28);
  });

  it('deflates JSON, and deflates it smaller at a higher level', () => {
    const plain = alertsJson(1024 * 1024);
    const fast = encodeBlob(plain, { compression: 'auto' });
    expect(fast[0]).toBe(1);
    expect(fast.length).toBeLessThan(plain.length / 4);
    const small = encodeBlob(plain, { compression: 'auto', level: 9 });
    expect(small.length).toBeLessThan(fast.length);
    expect(encodeBlob(plain, { compression: 'auto', key }).length).toBe(fast.length + 28);
  });

  it('deflates data without repeats whose byte values are unevenly spread', () => {
    const plain = pseudoRandomBytes(1024 * 1024, 5).map((byte) => byte & 0x3f);
    const stored = encodeBlob(plain, { compression: 'auto' });
    expect(stored[0]).toBe(1);
    expect(stored.length).toBeLessThan(plain.length * 0.8);
    expect(Buffer.from(decodeBlob(stored, { compression: 'auto' }, 'b')).equals(plain)).toBe(true);
  });

  it('stores JSON raw when compression is off', () => {
    const plain = alertsJson(10_000);
    const stored = encodeBlob(plain, { compression: 'off' });
    expect(stored[0]).toBe(0);
    expect(stored).toHaveLength(plain.length + 1);
  });

  it('stores raw a chunk whose sample compresses but whose whole does not', () => {
    const plain = Buffer.concat([alertsJson(80_000), pseudoRandomBytes(2 * 1024 * 1024, 3)]);
    const stored = encodeBlob(plain, { compression: 'auto' });
    expect(stored[0]).toBe(0);
    expect(stored).toHaveLength(plain.length + 1);
  });

  it('fails with E_INTEGRITY naming the blob when any byte of an encrypted blob changes', () => {
    for (const plain of [alertsJson(500), pseudoRandomBytes(300, 4)]) {
      const options: CodecOptions = { compression: 'auto', key };
      const stored = encodeBlob(plain, options);
      for (let i = 0; i < stored.length; i++) {
        const damaged = Buffer.from(stored);
        damaged[i] = (damaged[i] as number) ^ 0x80;
        const error = thrown(() => decodeBlob(damaged, options, 'pack data/ab12'));
        expect(error.code).toBe('E_INTEGRITY');
        expect(error.message).toBe('pack data/ab12: authentication failed');
      }
    }
  });

  it('fails with E_INTEGRITY for an encrypted blob opened with another key or none', () => {
    const stored = encodeBlob(alertsJson(2000), { compression: 'auto', key });
    expect(
      thrown(() => decodeBlob(stored, { compression: 'auto', key: randomBytes(32) }, 'b')).code,
    ).toBe('E_INTEGRITY');
    const plainStored = encodeBlob(alertsJson(2000), { compression: 'auto' });
    expect(thrown(() => decodeBlob(plainStored, { compression: 'auto', key }, 'b')).code).toBe(
      'E_INTEGRITY',
    );
  });

  it('fails with E_INTEGRITY for an unencrypted blob whose format is broken', () => {
    const options: CodecOptions = { compression: 'auto' };
    const deflated = encodeBlob(alertsJson(50_000), options);
    expect(deflated[0]).toBe(1);
    expect(thrown(() => decodeBlob(deflated.subarray(0, 1000), options, 'pack 7/c0')).message).toBe(
      'pack 7/c0: deflate stream is damaged',
    );
    const garbage = Buffer.concat([Buffer.from([1]), Buffer.alloc(100, 0xff)]);
    expect(thrown(() => decodeBlob(garbage, options, 'g')).code).toBe('E_INTEGRITY');
    expect(thrown(() => decodeBlob(Buffer.from([7, 1, 2]), options, 'u')).message).toBe(
      'u: unknown blob format 7',
    );
    expect(thrown(() => decodeBlob(new Uint8Array(0), options, 'e')).code).toBe('E_INTEGRITY');
  });

  it('rejects options that are out of range, saying what was expected', () => {
    const cases: [unknown, RegExp][] = [
      [
        { compression: 'zstd' },
        /compression: expected one of "auto", "off", received string "zstd"/,
      ],
      [{ compression: 'auto', level: 0 }, /level: expected number >= 1, received number 0/],
      [{ compression: 'auto', level: 10 }, /level: expected number <= 9/],
      [{ compression: 'auto', level: 1.5 }, /level: expected an integer/],
      [
        { compression: 'auto', key: randomBytes(16) },
        /key: expected a 32-byte Uint8Array, received Buffer of 16 bytes/,
      ],
      [{ compression: 'auto', cipher: 'aes' }, /cipher: expected no such option/],
    ];
    for (const [options, message] of cases) {
      const error = thrown(() => encodeBlob(Buffer.from('x'), options as CodecOptions));
      expect(error.code).toBe('E_INVALID_OPTIONS');
      expect(error.message).toMatch(message);
      expect(thrown(() => decodeBlob(Buffer.from([0]), options as CodecOptions, 'x')).code).toBe(
        'E_INVALID_OPTIONS',
      );
    }
  });
});
