// The release, shown in Settings; bump together with VERSION in sw.js.
export const APP_VERSION = '2026.11.28-2';
