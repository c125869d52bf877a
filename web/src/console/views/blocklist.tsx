// AML screening blocklist (docs/adr/0020): addresses whose transfers are held. Everyone reads it;
// support and admin add and remove addresses (the API enforces it, the console hides the buttons).
import { useState } from "preact/hooks";
import { api, can, ok, type S } from "../api";
import type { Ctx } from "../ctx";
import { Action, ErrorLine, Field, Scroll, fmtTime, useLoad } from "../ui";

const PAGE = 50;

export function Blocklist({ ctx }: { ctx: Ctx }) {
  // Pages of the list, newest first; "Show more" follows starting_after from the last address shown.
  const [after, setAfter] = useState<string[]>([]);
  const { data, error, reload } = useLoad(async () => {
    const pages: S["BlocklistList"][] = [];
    let cursor: string | undefined;
    for (let i = 0; i <= after.length; i++) {
      const query = cursor ? { limit: String(PAGE), starting_after: cursor } : { limit: String(PAGE) };
      const page = ok(await api.GET("/admin/screening/blocklist", { params: { query } }));
      pages.push(page);
      if (!page.has_more || !page.data.length) break;
      cursor = page.data[page.data.length - 1]!.address;
    }
    return { entries: pages.flatMap((p) => p.data), hasMore: pages[pages.length - 1]?.has_more ?? false };
  }, [after.length]);
  const write = can(ctx.roles, "blocklist");
  const entries = data?.entries ?? [];
  return (
    <section aria-labelledby="h-blocklist">
      <h1 id="h-blocklist">Screening blocklist</h1>
      <p class="muted">Transfers from a listed address are held for review. Removing an address does not release what is already held.</p>
      {write && <AddForm done={reload} />}
      <ErrorLine error={error} />
      <Scroll label="Blocklisted addresses">
        <table data-testid="blocklist-table">
          <thead>
            <tr>
              <th scope="col">Address</th>
              <th scope="col">Reason</th>
              <th scope="col">Added by</th>
              <th scope="col">Added</th>
              {write && <th scope="col">Actions</th>}
            </tr>
          </thead>
          <tbody>
            {entries.map((e) => (
              <tr key={e.address} data-testid="blocklist-row">
                <td class="mono">{e.address}</td>
                <td>{e.reason}</td>
                <td>{e.created_by}</td>
                <td>{fmtTime(e.created_at)}</td>
                {write && (
                  <td>
                    <Action
                      label="Remove"
                      kind="danger"
                      testid={`blocklist-remove-${e.address}`}
                      act={async () =>
                        ok(await api.DELETE("/admin/screening/blocklist/{address}", { params: { path: { address: e.address } } }))
                      }
                      done={reload}
                    />
                  </td>
                )}
              </tr>
            ))}
            {data && !entries.length && (
              <tr>
                <td colSpan={write ? 5 : 4} class="muted">
                  No address is blocklisted.
                </td>
              </tr>
            )}
          </tbody>
        </table>
      </Scroll>
      {data?.hasMore && (
        <button type="button" class="btn" onClick={() => setAfter([...after, ""])}>
          Show more
        </button>
      )}
    </section>
  );
}

function AddForm({ done }: { done: () => void }) {
  const [address, setAddress] = useState("");
  const [reason, setReason] = useState("");
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const submit = async (e: Event) => {
    e.preventDefault();
    setBusy(true);
    setError(null);
    try {
      ok(await api.POST("/admin/screening/blocklist", { body: { address: address.trim(), reason: reason.trim() } }));
      setAddress("");
      setReason("");
      done();
    } catch (err) {
      setError((err as Error).message);
    } finally {
      setBusy(false);
    }
  };
  return (
    <form class="blocklist-add" onSubmit={submit} aria-label="Add an address to the blocklist">
      <Field label="Address">
        <input
          data-testid="blocklist-address"
          class="mono"
          required
          maxLength={64}
          pattern="0x[0-9a-fA-F]{40}"
          title="A 0x address (40 hex digits)"
          placeholder="0x…"
          autocomplete="off"
          spellcheck={false}
          value={address}
          onInput={(e) => setAddress(e.currentTarget.value)}
        />
      </Field>
      <Field label="Reason">
        <input data-testid="blocklist-reason" required maxLength={500} value={reason} onInput={(e) => setReason(e.currentTarget.value)} />
      </Field>
      <button type="submit" class="btn primary" data-testid="blocklist-add" disabled={busy}>
        Add to blocklist
      </button>
      <ErrorLine error={error} />
    </form>
  );
}
