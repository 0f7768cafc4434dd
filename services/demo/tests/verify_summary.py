"""Independent check of demo-summary.json with eth-account (pinned, installed by ops/setup into
a private folder): every signed raw transaction decodes, recovers to the case address, hashes
to its tx hash and pays the right party. Exit 0 when all hold; prints one line per transfer."""
import json
import sys

from eth_account import Account
from eth_account.typed_transactions import TypedTransaction
from eth_utils import keccak, to_checksum_address
from hexbytes import HexBytes


def main(path):
    summary = json.load(open(path))
    case = to_checksum_address(summary["case_address"])
    recipient = to_checksum_address(summary["recipient"])
    token = to_checksum_address(summary["token_address"])
    transfers = summary["transfers"]
    assert len(transfers) == 3, f"expected 3 transfers, got {len(transfers)}"
    for t in transfers:
        raw = bytes.fromhex(t["raw_tx"][2:])
        sender = Account.recover_transaction(raw)
        assert sender == case, f"{t['request_id']}: sender {sender} is not the case {case}"
        assert "0x" + keccak(raw).hex().removeprefix("0x") == t["tx_hash"].lower(), \
            f"{t['request_id']}: keccak(raw) is not {t['tx_hash']}"
        tx = TypedTransaction.from_bytes(HexBytes(raw)).as_dict()
        assert tx["chainId"] == summary["chain_id"], tx
        to = to_checksum_address(tx["to"])
        if t["asset"] == "ETH":
            assert to == recipient and tx["value"] == int(t["amount"]), tx
        else:
            data = bytes(tx["data"]) if not isinstance(tx["data"], str) else bytes.fromhex(tx["data"][2:])
            assert to == token and tx["value"] == 0, tx
            assert data[:4].hex() == "a9059cbb", data.hex()
            assert to_checksum_address(data[16:36]) == recipient, data.hex()
            assert int.from_bytes(data[36:68], "big") == int(t["amount"]), data.hex()
        print(f"ok {t['asset']} {t['tx_hash']} from {sender} nonce {tx['nonce']} signers {t['signers']}")
    print("ok all")


if __name__ == "__main__":
    main(sys.argv[1])
