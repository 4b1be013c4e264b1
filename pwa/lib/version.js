// The release, shown in Settings; bump together with VERSION in sw.js.
export const APP_VERSION = '2026.12.04-1';
