// Saving bytes from the page as a file download (run exports, trained models).
//
// A trained model's export arrives as a Blob the worker built piece by piece (worker/trainedExport.ts): each
// piece became its own small Blob at once, and Chromium keeps blob bytes outside the JavaScript heaps (in
// the browser process, spilled to disk when large) and passes blobs between worker and page by reference,
// so neither holds the file as one contiguous array. The File System Access API (showSaveFilePicker) would write straight to
// disk, but it needs a fresh user gesture, which has expired by the time the worker has the weights ready,
// it opens a dialog automated runs cannot answer, and Firefox and Safari lack it; a Blob download works
// everywhere and keeps the download event the tests wait for.

/** Saves bytes as a download. */
export function download(bytes: Uint8Array, name: string, type: string): void {
  downloadBlob(new Blob([bytes as BlobPart], { type }), name);
}

/** Saves a Blob (e.g. one the worker built) as a download. */
export function downloadBlob(blob: Blob, name: string): void {
  const url = URL.createObjectURL(blob);
  const a = document.createElement('a');
  a.href = url;
  a.download = name;
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}
