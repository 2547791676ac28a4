{
  "algorithm": "ed25519",
  "key_id": "d207bb1d328967e1",
  "public_key": "fe212a1357013bdb60e4dcc4ccf9125674d835866dad24bbfd9b307963d68cc6",
  "signature": "1957141f597129da197a5d0ea5d53f2c204aac947acadef8f06eed0e3e6ea12f60a630a8b710fbe98c7dac8247fe7881e37b4e974bda2a4160660bbe7aa92909"
}
