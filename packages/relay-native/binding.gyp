{
  "targets": [
    {
      "target_name": "splice_relay",
      "sources": ["native/splice_relay.cc"],
      "include_dirs": ["<!(node -p \"require('node-addon-api').include_dir\")"],
      "defines": ["NAPI_VERSION=8", "NODE_ADDON_API_DISABLE_DEPRECATED"],
      "cflags_cc": ["-std=c++17", "-O2", "-fexceptions", "-Wall", "-Wextra"],
      "cflags_cc!": ["-fno-exceptions"],
      # The relay thread runs this code for the life of the process: never unmapped, even when
      # the worker that loaded it exits.
      "ldflags": ["-Wl,-z,nodelete"],
      "conditions": [["OS!='linux'", {"type": "none"}]]
    }
  ]
}
