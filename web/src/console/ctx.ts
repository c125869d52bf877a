import type { Role, S } from "./api";

export interface Ctx {
  me: S["AdminMeOut"];
  roles: Role[];
  go: (to: string) => void;
}
