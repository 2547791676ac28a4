{
  "algorithm": "ed25519",
  "key_id": "d207bb1d328967e1",
  "public_key": "fe212a1357013bdb60e4dcc4ccf9125674d835866dad24bbfd9b307963d68cc6",
  "signature": "22e97d35020bd8fc253be892eafb4d57f2eb4f28799ecf78e7a8e752c8731c1298a0fdb6cb2280a8721f40d6bda5eed5eb7328ede2ec1c7338a8be98e152aa0a"
}
