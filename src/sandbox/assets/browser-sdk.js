/*! verigate sandbox: a stand-in for PortOne's V2 browser SDK (cdn.portone.io/v2/browser-sdk.js).
 * Defines PortOne.requestIdentityVerification(request), which returns a Promise; the
 * verification runs on the sandbox's own page, never against a real provider. */
(function (global) {
  "use strict";
__COMMON__
  function requestIdentityVerification(request) {
    return new Promise(function (resolve) {
      var req = request || {};
      var id = req.identityVerificationId == null ? "" : String(req.identityVerificationId);
      function fail(code, message) {
        resolve({
          transactionType: "IDENTITY_VERIFICATION",
          identityVerificationId: id,
          identityVerificationTxId: "",
          code: code,
          message: message
        });
      }
      if (!req.storeId) return fail("BadRequest", "storeId가 필요합니다. (storeId is required.)");
      if (!id) return fail("BadRequest", "identityVerificationId가 필요합니다. (identityVerificationId is required.)");
      var windowType = req.windowType || {};
      var type = isMobile() ? (windowType.mobile || "REDIRECTION") : (windowType.pc || "POPUP");
      var wantsRedirect = type === "REDIRECTION" || req.forceRedirect === true;
      if (wantsRedirect && !req.redirectUrl && !isMobile()) {
        return fail("BadRequest", "리디렉션 방식에는 redirectUrl이 필요합니다. (redirectUrl is required for REDIRECTION.)");
      }
      var q = { sdk: "v2", identity_verification_id: id, store_id: String(req.storeId) };
      if (req.channelKey) q.channel_key = String(req.channelKey);
      if (req.customData != null) {
        q.custom_data = typeof req.customData === "string" ? req.customData : JSON.stringify(req.customData);
      }
      if (req.customer && req.customer.fullName) q.name = String(req.customer.fullName);
      openSandbox(q, wantsRedirect && req.redirectUrl ? req.redirectUrl : null, function (result, why) {
        if (result) return resolve(result);
        if (why === "blocked") return fail("FailedPrecondition", "팝업이 차단되었습니다. (The popup was blocked.)");
        fail("Cancelled", "본인인증 창이 닫혔습니다. (The verification window was closed.)");
      });
    });
  }

  global.PortOne = { requestIdentityVerification: requestIdentityVerification };
})(window);
