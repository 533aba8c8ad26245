// The decoded text of each token id, cached across decodes of one model (reset when another model loads).
import { TokenTexts } from './decodeRun.ts';

let texts = new TokenTexts();

export function tokenTexts(): TokenTexts {
  return texts;
}

export function resetTokenTexts(): void {
  texts = new TokenTexts();
}
