// Caches the app shell only. API answers, the event socket and anything with a token are
// never cached: requests under /api/ go straight to the network.
const CACHE = 'speakerd-shell-d6267c3506e8';
const SHELL = ['/', '/app.js', '/app.css', '/manifest.webmanifest', '/icon.svg', '/cover.svg'];

self.addEventListener('install', (event) => {
  event.waitUntil(caches.open(CACHE).then((c) => c.addAll(SHELL)).then(() => self.skipWaiting()));
});
self.addEventListener('activate', (event) => {
  event.waitUntil(caches.keys()
    .then((keys) => Promise.all(keys.filter((k) => k !== CACHE).map((k) => caches.delete(k))))
    .then(() => self.clients.claim()));
});
self.addEventListener('fetch', (event) => {
  const url = new URL(event.request.url);
  if (event.request.method !== 'GET' || url.origin !== location.origin) return;
  if (!SHELL.includes(url.pathname)) return;
  // network first so a daemon upgrade shows at once; the cache serves when offline
  event.respondWith(fetch(event.request).catch(() => caches.match(event.request)));
});
