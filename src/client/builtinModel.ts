// The built-in model: the one place that names its folder under public/models (the page loads it from
// there, scripts/make-example-run.ts reads it from disk).
export const BUILTIN_MODEL_ID = 'motg-builtin';
