{
  "algorithm": "ed25519",
  "key_id": "d207bb1d328967e1",
  "public_key": "fe212a1357013bdb60e4dcc4ccf9125674d835866dad24bbfd9b307963d68cc6",
  "signature": "c9b2af74252a8babfb34e0828087bba47da271531ad4204552cd7895ddc22ef5a9b1fe972a4d28c2ae1a256f2b57cad2b167465f4d8cd0e7df0b4054d22d7a0a"
}
