{
  "algorithm": "ed25519",
  "key_id": "d207bb1d328967e1",
  "public_key": "fe212a1357013bdb60e4dcc4ccf9125674d835866dad24bbfd9b307963d68cc6",
  "signature": "adefcee162f414a9cc19d952e498f12a4a06575ee7042cdece1cffcc161f64c4191a97233f660bdcae6839f3addc35ef875934cf6e928ddaf803403efd8bbe0e"
}
