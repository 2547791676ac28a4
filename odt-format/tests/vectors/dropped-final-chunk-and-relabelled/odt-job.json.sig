{
  "algorithm": "ed25519",
  "key_id": "d207bb1d328967e1",
  "public_key": "fe212a1357013bdb60e4dcc4ccf9125674d835866dad24bbfd9b307963d68cc6",
  "signature": "b960476577221608ddd2cc2bf8239cb72ae4df64d06abbfc963ec816973c6ebf9afcceebaa1bb50cb9bd94eb299df884c6a116d86decc1ade5eb4251192c330d"
}
