// The engine in a module Web Worker: owns the GPUDevice; the page talks to it through comlink.
import { expose } from 'comlink';
import { Engine } from '../src/engine/engine.ts';
import { installErrorTransfer } from '../src/engine/errorTransfer.ts';

installErrorTransfer();
expose(new Engine({ gpu: typeof navigator !== 'undefined' && 'gpu' in navigator ? navigator.gpu : null }));
