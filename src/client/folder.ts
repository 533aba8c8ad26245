// A model folder from the user's disk: the files of a folder picker (`<input webkitdirectory>`) or of a
// drop (folders walked with the File and Directory Entries API), each with its path inside the folder.

function readAll(reader: FileSystemDirectoryReader): Promise<FileSystemEntry[]> {
  return new Promise((resolve, reject) => {
    const out: FileSystemEntry[] = [];
    const next = () =>
      reader.readEntries((batch) => {
        if (batch.length === 0) resolve(out);
        else {
          out.push(...batch);
          next();
        }
      }, reject);
    next();
  });
}

function fileOf(entry: FileSystemFileEntry): Promise<File> {
  return new Promise((resolve, reject) => entry.file(resolve, reject));
}

async function walk(entry: FileSystemEntry, prefix: string, out: File[]): Promise<void> {
  if (entry.isFile) {
    const f = await fileOf(entry as FileSystemFileEntry);
    out.push(new File([f], `${prefix}${f.name}`, { type: f.type, lastModified: f.lastModified }));
  } else if (entry.isDirectory) {
    const children = await readAll((entry as FileSystemDirectoryEntry).createReader());
    for (const c of children) await walk(c, `${prefix}${entry.name}/`, out);
  }
}

/** The files of a drop, folders included (recursively). */
export async function filesFromDrop(dt: DataTransfer): Promise<File[]> {
  const entries: FileSystemEntry[] = [];
  for (const item of Array.from(dt.items)) {
    const e = item.kind === 'file' ? item.webkitGetAsEntry() : null;
    if (e) entries.push(e);
  }
  if (entries.length === 0) return Array.from(dt.files);
  const out: File[] = [];
  for (const e of entries) await walk(e, '', out);
  return out;
}

const pathOf = (f: File) => f.webkitRelativePath || f.name;

/**
 * The files with their folder path as the name: `webkitRelativePath` does not survive the copy to the
 * engine's worker, a name does, and the engine's file source matches either.
 */
export function withPaths(files: File[]): File[] {
  return files.map((f) => (f.webkitRelativePath ? new File([f], f.webkitRelativePath, { type: f.type }) : f));
}

/** The folder's name (first path component), for labels. */
export function folderName(files: File[]): string {
  const p = files.map(pathOf).find((n) => n.includes('/')) ?? '';
  return p ? p.split('/')[0] : 'dropped files';
}

/** The nearest config.json to the folder root, parsed; null when there is none. */
export async function readConfig(files: File[]): Promise<unknown | null> {
  const candidates = files
    .filter((f) => pathOf(f).split('/').pop() === 'config.json')
    .sort((a, b) => pathOf(a).split('/').length - pathOf(b).split('/').length);
  if (candidates.length === 0) return null;
  return JSON.parse(await candidates[0].text()) as unknown;
}
