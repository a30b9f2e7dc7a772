// The pickers offer exactly the vocabularies the kernel sends (the engine's registries), never a list of their
// own: given made-up names, the options are those names and choosing one sends it back.
import { describe, it, expect } from "vitest";
import { mount, baseState } from "./fake_model.js";

const options = (sel) => [...sel.options].map((o) => [o.value, o.textContent]);

describe("vocabularies come from the kernel", () => {
  it("alignment: metrics and each metric's settings", () => {
    const choices = {
      metrics: [{ name: "m_one", label: "Metric one", settings: ["alpha"] }, { name: "m_two", label: "Metric two", settings: ["beta", "alpha"] }],
      settings: { alpha: { label: "alpha by", values: ["a1", "a2"] }, beta: { label: "beta by", values: ["b1", "b2", "b3"] } },
    };
    const { model, el } = mount({ ...baseState(["alignment"]), align_choices: choices, align_settings: { metric: "m_one", alpha: "a2", beta: "b1", control: true } });
    const metric = el.querySelector('select[aria-label="metric"]');
    expect(options(metric)).toEqual([["m_one", "Metric one"], ["m_two", "Metric two"]]);
    const alpha = el.querySelector('select[data-setting="alpha"]');
    const beta = el.querySelector('select[data-setting="beta"]');
    expect(options(alpha).map(([v]) => v)).toEqual(["a1", "a2"]);
    expect(options(beta).map(([v]) => v)).toEqual(["b1", "b2", "b3"]);
    expect(alpha.value).toBe("a2");
    expect([alpha.parentElement.hidden, beta.parentElement.hidden]).toEqual([false, true]);
    metric.value = "m_two";
    metric.dispatchEvent(new Event("change"));
    expect(model.get("align_settings").metric).toBe("m_two");
    expect([alpha.parentElement.hidden, beta.parentElement.hidden]).toEqual([false, false]);
    beta.value = "b3";
    beta.dispatchEvent(new Event("change"));
    expect(model.get("align_settings")).toMatchObject({ metric: "m_two", beta: "b3", alpha: "a2" });
  });

  it("attribution: sign modes and sanity-check methods", () => {
    const state = baseState(["attribution"]);
    const { model, el } = mount({ ...state, attr_signs: ["s_keep", "s_up"], attr_methods: [{ name: "x_one", label: "X one", needs_layer: false }, { name: "x_two", label: "X two", needs_layer: true }],
      attr_settings: { ...state.attr_settings, methods: ["x_one"], sign: "s_up", sanity_method: "x_two" } });
    const sign = el.querySelector('select[aria-label="sign"]');
    expect(options(sign).map(([v]) => v)).toEqual(["s_keep", "s_up"]);
    expect(sign.value).toBe("s_up");
    const sanity = el.querySelector('select[aria-label="sanity-check method"]');
    expect(options(sanity)).toEqual([["x_one", "X one"], ["x_two", "X two"]]);
    expect(sanity.value).toBe("x_two");
    sign.value = "s_keep";
    sign.dispatchEvent(new Event("change"));
    expect(model.get("attr_settings").sign).toBe("s_keep");
  });

  it("optimal stimuli: image parameterizations", () => {
    const state = baseState(["featurevis"]);
    const { model, el } = mount({ ...state, fv_params: [{ name: "p_one", label: "P one" }, { name: "p_two", label: "P two" }],
      fv_settings: { ...state.fv_settings, param: "p_two" } });
    const param = el.querySelector('select[data-setting="param"]');
    expect(options(param)).toEqual([["p_one", "P one"], ["p_two", "P two"]]);
    expect(param.value).toBe("p_two");
    param.value = "p_one";
    el.querySelector(".nw-primary").click();
    expect(model.get("fv_settings").param).toBe("p_one");
  });
});
