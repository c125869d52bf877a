// Approvals queue: payouts and refunds waiting for a second finance user (four eyes).
import { api, can, ok } from "../api";
import type { Ctx } from "../ctx";
import { Action, Badge, ErrorLine, fmtTime, short, Scroll, isMe, useLoad } from "../ui";

export function Approvals({ ctx }: { ctx: Ctx }) {
  const { data, error, reload } = useLoad(
    async () =>
      ok(await api.GET("/admin/settlements", { params: { query: { status: "pending_approval", limit: "100" } } })).data,
    [],
    3000,
  );
  const finance = can(ctx.roles, "decide");
  return (
    <section aria-labelledby="h-appr">
      <h1 id="h-appr">Approvals</h1>
      <p class="muted">
        Payouts and refunds above the approval threshold wait here. A second finance user decides; the requester cannot
        approve their own request.
      </p>
      <ErrorLine error={error} />
      <Scroll label="Approvals table">
        <table data-testid="approvals-table">
          <thead>
            <tr>
              <th scope="col">Id</th>
              <th scope="col">Kind</th>
              <th scope="col">Merchant</th>
              <th scope="col" class="num">Amount</th>
              <th scope="col">Destination</th>
              <th scope="col">Requested by</th>
              <th scope="col">Requested</th>
              {finance && <th scope="col">Decision</th>}
            </tr>
          </thead>
          <tbody>
            {(data ?? []).map((d) => {
              const mine = isMe(d.requested_by, ctx.me.username);
              // The API refuses these too (shared/disbursements/service.approve); the console says why up front.
              const blocked = mine
                ? "Four eyes: another finance user must approve your own request"
                : isMe(d.key_created_by, ctx.me.username)
                  ? "You created the API key that requested this, so another finance user must approve"
                  : undefined;
              return (
                <tr key={d.id} data-testid="approval-row" data-id={d.id}>
                  <td class="mono">{d.id}</td>
                  <td>
                    <Badge value={d.kind} />
                  </td>
                  <td>{d.merchant_id ?? "platform"}</td>
                  <td class="num">{d.amount}</td>
                  <td class="mono" title={d.destination}>
                    {short(d.destination, 12)}
                  </td>
                  <td data-testid={`requested-by-${d.id}`}>
                    {(d.requested_by ?? d.requested_key ?? "—").replace(/^admin:/, "")}
                    {mine && <span class="muted"> (you)</span>}
                  </td>
                  <td>{fmtTime(d.created_at)}</td>
                  {finance && (
                    <td class="buttons">
                      <Action
                        label="Approve"
                        kind="primary"
                        testid={`approve-${d.id}`}
                        disabled={!!blocked}
                        title={blocked}
                        act={async () =>
                          ok(
                            await api.POST("/admin/settlements/{disbursement_id}/approve", {
                              params: { path: { disbursement_id: d.id } },
                            }),
                          )
                        }
                        done={reload}
                      />
                      <Action
                        label="Reject"
                        kind="danger"
                        testid={`reject-${d.id}`}
                        prompt="Reason for rejecting"
                        act={async (reason) =>
                          ok(
                            await api.POST("/admin/settlements/{disbursement_id}/reject", {
                              params: { path: { disbursement_id: d.id } },
                              body: { reason },
                            }),
                          )
                        }
                        done={reload}
                      />
                      {blocked && <span class="muted small">needs a second finance user</span>}
                    </td>
                  )}
                </tr>
              );
            })}
          </tbody>
        </table>
        {data && data.length === 0 && <p class="muted">Nothing waits for approval.</p>}
      </Scroll>
    </section>
  );
}
