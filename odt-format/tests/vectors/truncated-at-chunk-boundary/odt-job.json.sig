{
  "algorithm": "ed25519",
  "key_id": "d207bb1d328967e1",
  "public_key": "fe212a1357013bdb60e4dcc4ccf9125674d835866dad24bbfd9b307963d68cc6",
  "signature": "f41d0a9d4cddfa3ef3381b9310393b6cb61d4048b5ae2eace3c7788d9c86a570a71d4ea3151f739610b30ceaa97db738bf7cf4640234bf9ff3dcf1f8c281b60f"
}
