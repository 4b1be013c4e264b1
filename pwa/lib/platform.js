// What kind of device and install this is.

/** An iPhone or iPad (iPadOS reports itself as a Mac with touch). */
export const isIos = () => /iPad|iPhone|iPod/.test(navigator.userAgent)
  || (navigator.platform === 'MacIntel' && navigator.maxTouchPoints > 1);

/** Opened from the home screen (installed), where Safari keeps the data. */
export const isStandalone = () => matchMedia('(display-mode: standalone)').matches || navigator.standalone === true;
