/**
 * The browser side's one JSON request helper: sends the cookie, encodes a
 * body when there is one, and turns a refusal into an Error carrying the
 * server's own message. `alsoOk` lists statuses whose JSON answer the caller
 * reads itself (a block's run refused by maxInvocations, say).
 */
export async function requestJson<T>(method: string, path: string, body?: unknown, alsoOk: number[] = []): Promise<T> {
  const res = await fetch(path, {
    method,
    headers: body === undefined ? {} : { 'Content-Type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
    credentials: 'same-origin',
  });
  const data = (await res.json().catch(() => ({ error: `${res.status} ${res.statusText}` }))) as T & { error?: string };
  if (!res.ok && !alsoOk.includes(res.status)) throw new Error(data.error ?? `${res.status} ${res.statusText}`);
  return data;
}
