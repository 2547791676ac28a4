{
  "algorithm": "ed25519",
  "key_id": "d207bb1d328967e1",
  "public_key": "fe212a1357013bdb60e4dcc4ccf9125674d835866dad24bbfd9b307963d68cc6",
  "signature": "8d8e27c86df80529942f726f46f432bdab4cc34a0c72323ae91b96cb598d171b9089cbaef879ef8dd90a6f8b17db25c05b4eda37d44de02eaeb3881efb17ed0e"
}
