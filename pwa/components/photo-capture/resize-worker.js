// A module worker that resizes one photo (resize.js) off the page's thread.
import { resizePhoto } from './resize.js';

self.addEventListener('message', async (e) => {
  try {
    self.postMessage({ ok: true, ...(await resizePhoto(e.data.blob)) });
  } catch (err) {
    self.postMessage({ ok: false, error: String(err?.message ?? err) });
  }
});
