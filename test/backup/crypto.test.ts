import { randomBytes, scryptSync } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import {
  chunkId,
  deriveKey,
  type KdfParams,
  newKdfParams,
  open,
  SEAL_OVERHEAD,
  seal,
  sealParts,
  unwrapKey,
  wrapKey,
} from '../../src/backup/crypto.js';
import { SalamaError } from '../../src/core/errors.js';

/** Cheap parameters so tests that derive many keys stay fast. */
const cheap = (salt = randomBytes(16).toString('base64')): KdfParams => ({
  N: 1024,
  r: 8,
  p: 1,
  salt,
});

function thrown(fn: () => unknown): SalamaError {
  try {
    fn();
  } catch (error) {
    if (error instanceof SalamaError) return error;
    throw error;
  }
  throw new Error('expected an error');
}

describe('key derivation', () => {
  it('makes restic-like scrypt parameters with a fresh 32-byte salt each time', () => {
    const a = newKdfParams();
    const b = newKdfParams();
    expect(a).toMatchObject({ N: 32768, r: 8, p: 1 });
    expect(Buffer.from(a.salt, 'base64')).toHaveLength(32);
    expect(a.salt).not.toBe(b.salt);
  });

  it('derives the same 32-byte key from the same passphrase and parameters, with the default cost', async () => {
    const params = newKdfParams();
    const key = await deriveKey('correct horse battery staple', params);
    expect(key).toHaveLength(32);
    expect(Buffer.from(await deriveKey('correct horse battery staple', { ...params }))).toEqual(
      Buffer.from(key),
    );
  });

  it('derives another key from another passphrase or salt', async () => {
    const params = cheap();
    const key = Buffer.from(await deriveKey('secret', params));
    expect(Buffer.from(await deriveKey('Secret', params))).not.toEqual(key);
    expect(Buffer.from(await deriveKey('secret', cheap()))).not.toEqual(key);
    expect(Buffer.from(await deriveKey('secret', { ...params, N: 2048 }))).not.toEqual(key);
  });

  it('derives what scrypt derives from the UTF-8 passphrase and the decoded salt', async () => {
    const params = cheap();
    const expected = scryptSync(
      Buffer.from('pässwörd', 'utf8'),
      Buffer.from(params.salt, 'base64'),
      32,
      {
        N: params.N,
        r: params.r,
        p: params.p,
      },
    );
    expect(Buffer.from(await deriveKey('pässwörd', params))).toEqual(expected);
  });

  it('rejects parameters out of range before running scrypt', async () => {
    const cases: [Partial<KdfParams>, RegExp][] = [
      [{ N: 1000 }, /N expected a power of two from 2 to 2\^22, received number 1000/],
      [{ N: 2 ** 23 }, /N expected a power of two/],
      [{ r: 0 }, /r expected an integer from 1 to 32, received number 0/],
      [{ p: 17 }, /p expected an integer from 1 to 16/],
      [{ N: 2 ** 20, r: 16 }, /at most 2\^23 \(1 GiB of scrypt memory\)/],
      [{ salt: 'not base64!' }, /salt expected a base64 string/],
      [{ salt: 'c2hvcnQ=' }, /salt expected at least 16 bytes/],
    ];
    for (const [change, message] of cases) {
      const error = await deriveKey('x', { ...cheap(), ...change }).catch((e: unknown) => e);
      expect(SalamaError.is(error, 'E_INVALID_ARGUMENT')).toBe(true);
      expect((error as Error).message).toMatch(message);
    }
    const error = await deriveKey(undefined as unknown as string, cheap()).catch((e) => e);
    expect(SalamaError.is(error, 'E_INVALID_ARGUMENT')).toBe(true);
  });
});

describe('seal and open', () => {
  const key = randomBytes(32);

  it('round-trips data, adding a 12-byte nonce and a 16-byte tag', () => {
    for (const size of [0, 1, 15, 16, 17, 1000, 1024 * 1024 + 3]) {
      const plain = randomBytes(size);
      const sealed = seal(key, plain);
      expect(sealed).toHaveLength(size + SEAL_OVERHEAD);
      expect(SEAL_OVERHEAD).toBe(28);
      expect(Buffer.from(open(key, sealed, 'test')).equals(plain)).toBe(true);
    }
  });

  it('uses a fresh nonce each time, so equal plaintexts seal differently', () => {
    const plain = Buffer.from('the same frame twice');
    const a = Buffer.from(seal(key, plain));
    const b = Buffer.from(seal(key, plain));
    expect(a.subarray(0, 12)).not.toEqual(b.subarray(0, 12));
    expect(a).not.toEqual(b);
  });

  it('seals parts as if they were one buffer', () => {
    const parts = [Buffer.from([1]), randomBytes(100), Buffer.alloc(0), randomBytes(7)];
    const sealed = sealParts(key, parts);
    expect(Buffer.from(open(key, sealed, 'parts'))).toEqual(Buffer.concat(parts));
  });

  it('fails with E_INTEGRITY naming what was opened when any byte is changed', () => {
    const sealed = seal(key, Buffer.from('plate KA-01-AB-1234 at gate 3'));
    for (let i = 0; i < sealed.length; i++) {
      const damaged = Buffer.from(sealed);
      damaged[i] = (damaged[i] as number) ^ 0x01;
      const error = thrown(() => open(key, damaged, 'pack data/ab12'));
      expect(error.code).toBe('E_INTEGRITY');
      expect(error.message).toBe('pack data/ab12: authentication failed');
      expect(error.context).toEqual({ what: 'pack data/ab12' });
    }
  });

  it('fails with E_INTEGRITY for a truncated seal, another key or other associated data', () => {
    const aad = Buffer.from('pack 1');
    const sealed = seal(key, randomBytes(64), aad);
    expect(thrown(() => open(key, sealed.subarray(0, 27), 'short')).message).toMatch(
      /^short: sealed data of 27 bytes is shorter than its nonce and tag$/,
    );
    for (const [k, a] of [
      [key, undefined],
      [key, Buffer.from('pack 2')],
      [randomBytes(32), aad],
    ] as const) {
      expect(thrown(() => open(k, sealed, 'x', a)).code).toBe('E_INTEGRITY');
    }
    expect(thrown(() => open(key, sealed.subarray(0, sealed.length - 1), 'x')).code).toBe(
      'E_INTEGRITY',
    );
    expect(open(key, sealed, 'x', aad)).toHaveLength(64);
  });

  it('refuses keys that are not 32 bytes', () => {
    expect(thrown(() => seal(randomBytes(16), Buffer.from('x'))).message).toMatch(
      /^seal\(\): expected a 32-byte key, received Buffer of 16 bytes$/,
    );
    expect(thrown(() => open(randomBytes(31), randomBytes(40), 'x')).code).toBe(
      'E_INVALID_ARGUMENT',
    );
  });
});

describe('wrapped master keys', () => {
  it('unwraps the master key with the passphrase that wrapped it', async () => {
    const params = cheap();
    const master = randomBytes(32);
    const wrapped = wrapKey(await deriveKey('open sesame', params), master);
    expect(typeof wrapped).toBe('string');
    expect(Buffer.from(wrapped, 'base64')).toHaveLength(60);
    expect(Buffer.from(unwrapKey(await deriveKey('open sesame', params), wrapped))).toEqual(master);
  });

  it('fails with E_BAD_KEY for a wrong passphrase', async () => {
    const params = cheap();
    const wrapped = wrapKey(await deriveKey('open sesame', params), randomBytes(32));
    const error = thrown(() => unwrapKey(randomBytes(32), wrapped));
    expect(error.code).toBe('E_BAD_KEY');
    expect(error.message).toBe('the passphrase does not open this repository');
    const wrong = await deriveKey('open sesame!', params);
    expect(thrown(() => unwrapKey(wrong, wrapped)).code).toBe('E_BAD_KEY');
  });

  it('does not take a sealed chunk of 32 bytes for a wrapped key', () => {
    const key = randomBytes(32);
    const sealedChunk = Buffer.from(seal(key, randomBytes(32))).toString('base64');
    expect(thrown(() => unwrapKey(key, sealedChunk)).code).toBe('E_BAD_KEY');
  });

  it('fails with E_INTEGRITY for something that cannot be a wrapped key', () => {
    const key = randomBytes(32);
    expect(thrown(() => unwrapKey(key, 'AAAA')).code).toBe('E_INTEGRITY');
    expect(thrown(() => unwrapKey(key, undefined as unknown as string)).code).toBe('E_INTEGRITY');
  });

  it('wraps only 32-byte master keys', () => {
    expect(thrown(() => wrapKey(randomBytes(32), randomBytes(16))).code).toBe('E_INVALID_ARGUMENT');
  });
});

describe('chunkId', () => {
  it('is the SHA-256 of the plaintext in lowercase hex', () => {
    expect(chunkId(Buffer.from('abc'))).toBe(
      'ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad',
    );
    expect(chunkId(new Uint8Array(0))).toBe(
      'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855',
    );
  });
});
