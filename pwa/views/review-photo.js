// Reviewer: one flagged photo side by side with the golden sample and the analysis overlay,
// with a decision (accept / reject / retake) and a comment. The decision is saved locally
// and pushed as a "decision" mutation through sync, so it works on a flaky connection too.

import { api, ApiError } from '../lib/api.js';
import { getRecord } from '../lib/db.js';
import { html, render } from '../lib/html.js';
import { newId, saveRecord } from '../lib/store.js';
import { t } from '../i18n/index.js';
import { optional } from './review-queue.js';

async function signedUrl(photoId, variant) {
  try {
    return (await api(`/api/v1/blobs/${photoId}/download?variant=${variant}`))?.url ?? null;
  } catch (err) {
    if (err instanceof ApiError) return null;
    throw err;
  }
}

/** Show one photo for review. */
export async function show(root, ctx, photoId) {
  const route = root.dataset.route;
  const detail = await optional(`/api/v1/review/photos/${photoId}`);
  const local = await getRecord('photo', photoId);
  const inspectionId = detail?.inspection_id ?? local?.fields?.inspection_id ?? null;
  const [photoUrl, overlayUrl] = await Promise.all([signedUrl(photoId, 'original'), signedUrl(photoId, 'overlay')]);
  const goldenUrl = detail?.golden_sample_url ?? null;
  if (root.dataset.route !== route) return; // the user has moved on
  const img = (src, label) => html`<figure>${src ? html`<img src="${src}" alt="${label}">` : html`<div class="placeholder">${t('review.unavailable')}</div>`}
    <figcaption>${label}</figcaption></figure>`;
  render(root, html`
    <a class="back" href="#/review">← ${t('nav.back')}</a>
    <h1>${t('review.compare')}</h1>
    ${detail === null ? html`<p class="notice" data-testid="review-unavailable">${t('review.unavailable')}</p>` : ''}
    <div class="compare">${img(goldenUrl, t('review.golden'))}${img(photoUrl, t('review.photo'))}${img(overlayUrl, t('review.overlay'))}</div>
    <form id="decide" class="card">
      <label for="comment">${t('review.comment')}</label>
      <textarea id="comment" name="comment" rows="3"></textarea>
      <div class="choices">
        <button type="submit" value="accept" class="primary">${t('review.accept')}</button>
        <button type="submit" value="reject">${t('review.reject')}</button>
        <button type="submit" value="retake">${t('review.retake')}</button>
      </div>
      <p class="saved" role="status" aria-live="polite"></p>
    </form>`);
  const form = root.querySelector('#decide');
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    const decision = e.submitter?.value ?? 'accept';
    if (!inspectionId) return;
    await saveRecord('decision', newId(), { inspection_id: inspectionId, photo_id: photoId, decision,
      comment: form.comment.value.trim(), resolved: false });
    form.querySelector('.saved').textContent = t('review.decided');
    ctx.syncSoon();
  });
}
