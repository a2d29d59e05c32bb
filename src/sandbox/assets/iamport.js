/*! verigate sandbox: a stand-in for PortOne's V1 browser SDK (cdn.iamport.kr/v1/iamport.js).
 * Defines IMP.init, IMP.agency and IMP.certification(params, callback); the verification runs
 * on the sandbox's own page, never against a real provider. */
(function (global) {
  "use strict";
__COMMON__
  var NO_INIT = "F0003";

  function certification(params, callback) {
    params = params || {};
    var cb = typeof callback === "function" ? callback : function () {};
    var merchantUid = params.merchant_uid == null ? "" : String(params.merchant_uid);
    function fail(code, msg) {
      cb({ success: false, error_code: code, error_msg: msg, imp_uid: null, merchant_uid: merchantUid });
    }
    if (!IMP._code) return fail(NO_INIT, "IMP.init()을 먼저 호출하세요. (Call IMP.init() first.)");
    if (!merchantUid) return fail(NO_INIT, "merchant_uid가 필요합니다. (merchant_uid is required.)");
    var redirectUrl = params.m_redirect_url ? String(params.m_redirect_url) : "";
    // PortOne: popup on a PC; on a phone redirect unless popup is true. Here popup:false
    // redirects on a PC too, so redirect mode can be tried from a desktop browser.
    var redirect = redirectUrl && (params.popup === false || (isMobile() && params.popup !== true));
    var q = { sdk: "v1", merchant_uid: merchantUid, imp_code: IMP._code };
    if (params.name) q.name = String(params.name);
    if (params.min_age != null) q.min_age = String(params.min_age);
    openSandbox(q, redirect ? redirectUrl : null, function (result, why) {
      if (result) return cb(result);
      if (why === "blocked") return fail("F0002", "팝업이 차단되었습니다. (The popup was blocked.)");
      fail("F0001", "본인인증 창이 닫혔습니다. (The verification window was closed.)");
    });
  }

  var IMP = {
    _code: null,
    _tier: null,
    init: function (code) { IMP._code = String(code); },
    agency: function (code, tier) { IMP._code = String(code); IMP._tier = tier == null ? null : String(tier); },
    certification: certification
  };
  global.IMP = IMP;
})(window);
