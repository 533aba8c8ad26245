// Saving bytes from the page as a file download (run exports, trained models).
//
// A large export arrives as pieces (zipChunks). Each piece becomes its own small Blob at once, and the
// download is one Blob made of those: Chromium keeps blob bytes outside the page's JavaScript heap (in the
// browser process, spilled to disk when large) and composes blobs by reference, so the page never holds the
// file as one contiguous array, and a piece made for the export (not a view of live data) can be collected
// as soon as it is handed over. The File System Access API (showSaveFilePicker) would write straight to
// disk, but it needs a fresh user gesture, which has expired by the time the worker has the weights ready,
// it opens a dialog automated runs cannot answer, and Firefox and Safari lack it; a Blob download works
// everywhere and keeps the download event the tests wait for.

/** Saves bytes as a download. */
export function download(bytes: Uint8Array, name: string, type: string): void {
  downloadBlob(new Blob([bytes as BlobPart], { type }), name);
}

/** Saves the concatenation of `pieces` as a download, without gathering them into one array. */
export function downloadPieces(pieces: Iterable<Uint8Array>, name: string, type: string): void {
  const parts: Blob[] = [];
  for (const piece of pieces) parts.push(new Blob([piece as BlobPart]));
  downloadBlob(new Blob(parts, { type }), name);
}

function downloadBlob(blob: Blob, name: string): void {
  const url = URL.createObjectURL(blob);
  const a = document.createElement('a');
  a.href = url;
  a.download = name;
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}
