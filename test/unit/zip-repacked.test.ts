// A run exported by the page and re-packed by another zip tool imports back (issue 16): the reader is
// fflate's, so deflated entries, a folder around the files and directory entries are all fine.
// test/fixtures-local/run-repacked-deflate.zip is a page export (writeZip: run.json and the CSVs of the
// bundled example run, trimmed) extracted and zipped again by Python's zipfile:
//   ZipFile(out, 'w', ZIP_DEFLATED, compresslevel=9): writestr('motg-run/', b''), then each file as
//   'motg-run/<name>' — what an operating system's "compress folder" makes.
import { readFileSync } from 'node:fs';
import { crc32 } from 'node:zlib';
import { deflateSync, Zip, ZipDeflate, zipSync } from 'fflate';
import { describe, expect, it } from 'vitest';
import { readZip, writeZip } from '../../src/client/zip.ts';
import { readRunFile } from '../../src/ui/lib/exportRun.ts';

const FIXTURE = new URL('../fixtures-local/run-repacked-deflate.zip', import.meta.url);

/** Each central-directory record's name, compression method and CRC, read from the bytes. */
function centralDirectory(bytes: Uint8Array): { name: string; method: number; crc: number }[] {
  const v = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let eocd = bytes.length - 22;
  while (v.getUint32(eocd, true) !== 0x06054b50) eocd--;
  const out = [];
  let p = v.getUint32(eocd + 16, true);
  for (let i = 0; i < v.getUint16(eocd + 10, true); i++) {
    const nameLen = v.getUint16(p + 28, true);
    out.push({
      name: new TextDecoder().decode(bytes.subarray(p + 46, p + 46 + nameLen)),
      method: v.getUint16(p + 10, true),
      crc: v.getUint32(p + 16, true),
    });
    p += 46 + nameLen + v.getUint16(p + 30, true) + v.getUint16(p + 32, true);
  }
  return out;
}

/** A zip of deflated entries, in the given order, by fflate's streaming writer. */
function deflated(files: { name: string; data: Uint8Array }[]): Uint8Array {
  const parts: Uint8Array[] = [];
  const zip = new Zip((err, data) => {
    if (err) throw err;
    parts.push(data);
  });
  for (const f of files) {
    const entry = new ZipDeflate(f.name, { level: 9 });
    zip.add(entry);
    entry.push(f.data, true);
  }
  zip.end();
  return new Uint8Array(Buffer.concat(parts));
}

describe('readZip (fflate)', () => {
  const bytes = new Uint8Array(readFileSync(FIXTURE));

  it('reads the deflated entries of a zip re-packed by Python, to the bytes they held', () => {
    const dir = centralDirectory(bytes);
    expect(dir.filter((e) => e.method === 8).map((e) => e.name)).toEqual([
      'motg-run/run.json',
      'motg-run/steps.csv',
      'motg-run/evals.csv',
      'motg-run/train.csv',
    ]);
    const entries = readZip(bytes);
    // The directory entry is no file; the files come in the archive's order.
    expect(entries.map((e) => e.name)).toEqual(dir.filter((e) => e.method === 8).map((e) => e.name));
    for (const e of entries) expect(crc32(e.data)).toBe(dir.find((d) => d.name === e.name)?.crc);
    expect(new TextDecoder().decode(entries[1].data).split('\n')[0]).toMatch(/^side,step,/);
  });

  it('imports the re-packed export as a run (the Import button’s path)', async () => {
    const run = await readRunFile(new File([bytes], 'motg-run.zip', { type: 'application/zip' }));
    expect(run.format).toBe('motg-run');
    expect(run.decode?.sides.map((s) => s.mode)).toEqual(['discrete-top-k', 'dirichlet']);
    expect(run.train[0].history.map((m) => m.step)).toEqual([1, 2, 3, 4]);
    expect(run.evals.length).toBeGreaterThan(0);
  });

  it('round-trips writeZip through a deflating writer, and leaves out macOS resource forks', () => {
    const enc = new TextEncoder();
    const files = [
      { name: 'run.json', data: enc.encode(`${JSON.stringify({ a: 'x'.repeat(500) })}\n`) },
      { name: 'charts/ü.png', data: new Uint8Array(300).fill(7) },
      { name: '1', data: new Uint8Array(0) },
    ];
    const stored = writeZip(files, new Date(2024, 0, 2, 3, 4, 6));
    expect(centralDirectory(stored).map((e) => e.method)).toEqual([0, 0, 0]);
    expect(readZip(stored)).toEqual(files);
    const repacked = deflated([...readZip(stored), { name: '__MACOSX/._run.json', data: new Uint8Array(4) }]);
    expect(centralDirectory(repacked).some((e) => e.method === 8)).toBe(true);
    // The archive's order, even for a name an object would sort first ("1").
    expect(readZip(repacked).map((e) => e.name)).toEqual(['run.json', 'charts/ü.png', '1']);
    expect(readZip(repacked)).toEqual(files);
  });

  it('says what is wrong with bytes that are no zip, or a damaged deflate stream', () => {
    expect(() => readZip(new TextEncoder().encode('{"format":"motg-run"}'))).toThrowError(/not a ZIP file/);
    const bad = zipSync({ 'run.json': [new Uint8Array(2000).fill(65), { level: 9 }] });
    const deflated = deflateSync(new Uint8Array(2000).fill(65), { level: 9 });
    // Corrupt the entry's deflate stream (it starts after the 30-byte local header and the 8-byte name).
    bad.set(new Uint8Array(deflated.length).fill(0xff), 38);
    expect(() => readZip(bad)).toThrowError(/the ZIP could not be read/);
  });
});
