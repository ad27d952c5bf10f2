/**
 * megalodon's Pleroma socket starts a 10 s ping timer when it opens and its stop() leaves it behind:
 * made while a test holds the socket, timers are unref'd so that they cannot keep the test worker
 * alive. Call the returned function when the socket is stopped.
 */
export function unrefTimersWhileSocketOpen(): () => void {
  const realSetTimeout = globalThis.setTimeout;
  globalThis.setTimeout = ((...args: Parameters<typeof setTimeout>) => realSetTimeout(...args).unref()) as typeof setTimeout;
  return () => {
    globalThis.setTimeout = realSetTimeout;
  };
}
