// Four-eyes replies: a change that needs a second administrator answers 202 with a proposal
// instead of the changed record.
import type { Schemas } from "../api";

export type ProposalView = Schemas["ProposalView"];

/** Whether a reply is a proposal (202) rather than the applied change (200). */
export function isProposal(x: unknown): x is ProposalView {
  return typeof x === "object" && x !== null && "kind" in x && "expires_at" in x && "can_decide" in x;
}
