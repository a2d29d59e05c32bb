<?php
// Behind verigate, HTTP_X_VERIFIED_* can only come from verigate: it removes every client header
// that PHP would read under those names (X-Verified.Verdict, x_verified_verdict, ...).
if (($_SERVER['HTTP_X_VERIFIED_VERDICT'] ?? '') !== 'allow') {
    http_response_code(403);
    exit('성인 인증이 필요합니다 (' . ($_SERVER['HTTP_X_VERIFIED_REASON'] ?? 'unverified') . ')');
}
$name  = rawurldecode($_SERVER['HTTP_X_VERIFIED_NAME'] ?? '');   // 홍길동
$birth = $_SERVER['HTTP_X_VERIFIED_BIRTH'] ?? null;               // 1990-05-05
echo 'adult';
