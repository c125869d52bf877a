// Console users and their roles (Cognito groups). Admins change roles and sign users out everywhere.
import { useState } from "preact/hooks";
import { api, can, ok, type Role } from "../api";
import type { Ctx } from "../ctx";
import { Action, Badge, ErrorLine, Scroll, fmtTime, useLoad } from "../ui";

const ROLES: Role[] = ["viewer", "support", "finance", "admin"];

export function Users({ ctx }: { ctx: Ctx }) {
  const { data, error, reload } = useLoad(async () => ok(await api.GET("/admin/users")).data, []);
  const admin = can(ctx.roles, "users");
  return (
    <section aria-labelledby="h-users">
      <h1 id="h-users">Users</h1>
      <ErrorLine error={error} />
      <Scroll label="Users table">
        <table>
          <thead>
            <tr>
              <th scope="col">User</th>
              <th scope="col">Status</th>
              <th scope="col">Roles</th>
              <th scope="col">Signed out</th>
              {admin && <th scope="col">Actions</th>}
            </tr>
          </thead>
          <tbody>
            {(data ?? []).map((u) => (
              <tr key={u.username}>
                <td>{u.username}</td>
                <td>
                  <Badge value={u.enabled === false ? "disabled" : (u.status ?? "active").toLowerCase()} />
                </td>
                <td>{admin ? <RoleEditor username={u.username} roles={(u.roles ?? []) as Role[]} done={reload} /> : (u.roles ?? []).join(", ") || "—"}</td>
                <td>{fmtTime(u.signed_out_at)}</td>
                {admin && (
                  <td>
                    <Action
                      label="Sign out everywhere"
                      act={async () => ok(await api.POST("/admin/users/{username}/sign_out", { params: { path: { username: u.username } } }))}
                      done={reload}
                    />
                  </td>
                )}
              </tr>
            ))}
          </tbody>
        </table>
      </Scroll>
    </section>
  );
}

function RoleEditor({ username, roles, done }: { username: string; roles: Role[]; done: () => void }) {
  const [picked, setPicked] = useState<Role[]>(roles);
  const changed = picked.slice().sort().join() !== roles.slice().sort().join();
  return (
    <fieldset class="roles">
      <legend class="sr-only">Roles of {username}</legend>
      {ROLES.map((r) => (
        <label key={r}>
          <input
            type="checkbox"
            checked={picked.includes(r)}
            onChange={(e) => setPicked(e.currentTarget.checked ? [...picked, r] : picked.filter((x) => x !== r))}
          />{" "}
          {r}
        </label>
      ))}
      <Action
        label="Save roles"
        disabled={!changed}
        act={async () => ok(await api.POST("/admin/users/{username}/roles", { params: { path: { username } }, body: { roles: picked } }))}
        done={done}
      />
    </fieldset>
  );
}
