// The engine in a module Web Worker: owns the GPUDevice; the page talks to it through comlink.
import { expose } from 'comlink';
import { Engine } from '../src/worker/engine.ts';
import { installErrorTransfer } from '../src/worker/errorTransfer.ts';

installErrorTransfer();
expose(new Engine({ gpu: typeof navigator !== 'undefined' && 'gpu' in navigator ? navigator.gpu : null }));
