(function () {
  "use strict";
  // A form marked data-pow-form, progressively enhanced: it is submitted by
  // fetch so that, when the service asks for a proof of work (HTTP 428, the
  // village is flooded; the answer page carries <div id="pow" data-token
  // data-seed data-difficulty>), the page solves it and resubmits the same
  // form data, files included, with the proof in the X-Wuxiao-Challenge and
  // X-Wuxiao-Nonce headers (and the pow_token/pow_nonce fields). Without
  // JavaScript the form posts normally and the 428 page says to retry later.
  // A page may define window.wuxiaoPowShown(formData), called after the
  // answer page is shown, to put back what a refused page did not keep.
  var form = document.querySelector("form[data-pow-form]");
  if (!form || !window.fetch || !window.FormData || !window.DOMParser) return;
  var status = document.getElementById("pow-status");

  // SHA-256 (FIPS 180-4) of an ASCII string; the eight state words.
  var K = [0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
    0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
    0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
    0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
    0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
    0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
    0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
    0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2];
  var W = new Uint32Array(64);
  function sha256(msg) {
    var n = msg.length, blocks = ((n + 8) >> 6) + 1, m = new Uint32Array(blocks * 16), i, t;
    for (i = 0; i < n; i++) m[i >> 2] |= (msg.charCodeAt(i) & 0xff) << (24 - (i & 3) * 8);
    m[n >> 2] |= 0x80 << (24 - (n & 3) * 8);
    m[blocks * 16 - 1] = n * 8;
    var H = [0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19];
    for (var blk = 0; blk < blocks; blk++) {
      for (t = 0; t < 16; t++) W[t] = m[blk * 16 + t];
      for (t = 16; t < 64; t++) {
        var x = W[t - 15], y = W[t - 2];
        var s0 = ((x >>> 7) | (x << 25)) ^ ((x >>> 18) | (x << 14)) ^ (x >>> 3);
        var s1 = ((y >>> 17) | (y << 15)) ^ ((y >>> 19) | (y << 13)) ^ (y >>> 10);
        W[t] = W[t - 16] + s0 + W[t - 7] + s1;
      }
      var a = H[0], b = H[1], c = H[2], d = H[3], e = H[4], f = H[5], g = H[6], h = H[7];
      for (t = 0; t < 64; t++) {
        var S1 = ((e >>> 6) | (e << 26)) ^ ((e >>> 11) | (e << 21)) ^ ((e >>> 25) | (e << 7));
        var t1 = (h + S1 + ((e & f) ^ (~e & g)) + K[t] + W[t]) | 0;
        var S0 = ((a >>> 2) | (a << 30)) ^ ((a >>> 13) | (a << 19)) ^ ((a >>> 22) | (a << 10));
        var t2 = (S0 + ((a & b) ^ (a & c) ^ (b & c))) | 0;
        h = g; g = f; f = e; e = (d + t1) | 0; d = c; c = b; b = a; a = (t1 + t2) | 0;
      }
      H[0] = (H[0] + a) | 0; H[1] = (H[1] + b) | 0; H[2] = (H[2] + c) | 0; H[3] = (H[3] + d) | 0;
      H[4] = (H[4] + e) | 0; H[5] = (H[5] + f) | 0; H[6] = (H[6] + g) | 0; H[7] = (H[7] + h) | 0;
    }
    return H;
  }
  function zeroBits(H) {
    for (var i = 0, n = 0; i < 8; i++) {
      var v = H[i] >>> 0;
      if (v !== 0) return n + Math.clz32(v);
      n += 32;
    }
    return n;
  }
  // solve finds the decimal nonce with SHA-256(seed + nonce) starting with
  // difficulty zero bits (SolvePoW in pow.go), in slices so the page stays
  // responsive and the progress note updates.
  function solve(seed, difficulty) {
    return new Promise(function (resolve) {
      var i = 0;
      (function slice() {
        for (var end = i + 20000; i < end; i++) {
          if (zeroBits(sha256(seed + i)) >= difficulty) { resolve(String(i)); return; }
        }
        if (status) status.textContent = "正在验证…（已计算" + i + "次）";
        setTimeout(slice, 0);
      })();
    });
  }
  function show(html) {
    document.open();
    document.write(html);
    document.close();
  }
  var sending = false;
  function send(data, attempt) {
    var headers = {};
    if (data.get("pow_token")) {
      headers["X-Wuxiao-Challenge"] = data.get("pow_token");
      headers["X-Wuxiao-Nonce"] = data.get("pow_nonce");
    }
    return fetch(form.action, { method: "POST", body: data, headers: headers, credentials: "same-origin" }).then(function (res) {
      return res.text().then(function (html) {
        if (res.status === 428 && attempt < 2) {
          var pow = new DOMParser().parseFromString(html, "text/html").getElementById("pow");
          if (pow) {
            if (status) { status.hidden = false; status.textContent = "正在验证…"; }
            return solve(pow.getAttribute("data-seed"), Number(pow.getAttribute("data-difficulty"))).then(function (nonce) {
              data.set("pow_token", pow.getAttribute("data-token"));
              data.set("pow_nonce", nonce);
              if (status) status.textContent = "验证完成，正在提交…";
              return send(data, attempt + 1);
            });
          }
        }
        show(html);
        if (typeof window.wuxiaoPowShown === "function") window.wuxiaoPowShown(data);
      });
    });
  }
  form.addEventListener("submit", function (ev) {
    ev.preventDefault();
    if (sending) return;
    sending = true;
    var button = form.querySelector("button[type=submit]");
    if (button) button.disabled = true;
    send(new FormData(form), 0).catch(function () {
      // The network failed under fetch: fall back to a plain post.
      sending = false;
      if (button) button.disabled = false;
      form.submit();
    });
  });
})();
