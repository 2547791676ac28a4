{
  "algorithm": "ed25519",
  "key_id": "3f5af6689d342614",
  "public_key": "ba343f15b903aa40d80eb49afe5046b7190199ab5e451484581d9302bb91deef",
  "signature": "a495ba0bfa681a1c0b126fb759e50e66057bc833b050c47eef0bbc5ad6533bcddc8d8f82bd9965f7bcb1286fd3d737e6fb6e00d2ca8251066f0c91d7d1f71e0b"
}
