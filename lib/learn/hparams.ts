/**
 * TensorBoard's HParams plugin data (tensorboard/plugins/hparams/api.proto and
 * plugin_data.proto, the fields it reads): an experiment (its hyper-parameters and metrics)
 * written once at the top of a log folder, and per run a session start (the run's values and
 * its group) and end. TensorBoard then shows the runs side by side in its HPARAMS tab.
 */
import protobuf from 'protobufjs';
import type { EventWriter } from './tensorboard.ts';

const root = protobuf.parse(`
syntax = "proto3";
message ListValue { repeated Value values = 1; }
message Value { oneof kind { int32 null_value = 1; double number_value = 2; string string_value = 3; bool bool_value = 4; ListValue list_value = 6; } }
message MetricName { string group = 1; string tag = 2; }
message MetricInfo { MetricName name = 1; string display_name = 3; string description = 4; }
message HParamInfo { string name = 1; string display_name = 2; string description = 3; int32 type = 4; ListValue domain_discrete = 5; }
message Experiment { string description = 1; string user = 2; double time_created_secs = 3; repeated HParamInfo hparam_infos = 4; repeated MetricInfo metric_infos = 5; string name = 6; }
message SessionStartInfo { map<string, Value> hparams = 1; string model_uri = 2; string monitor_url = 3; string group_name = 4; double start_time_secs = 5; }
message SessionEndInfo { int32 status = 1; double end_time_secs = 2; }
message HParamsPluginData { int32 version = 1; oneof data { Experiment experiment = 2; SessionStartInfo session_start_info = 3; SessionEndInfo session_end_info = 4; } }
`, { keepCase: true }).root;
const PluginData = root.lookupType('HParamsPluginData');

export type HParamValue = number | string | boolean;
const DATA_TYPE = { string: 1, boolean: 2, number: 3 } as const;
const STATUS = { success: 1, failure: 2, running: 3 } as const;

function value(v: HParamValue): Record<string, unknown> {
  return typeof v === 'number' ? { number_value: v } : typeof v === 'boolean' ? { bool_value: v } : { string_value: v };
}

function write(w: EventWriter, tag: string, data: Record<string, unknown>): void {
  w.pluginSummary(tag, 'hparams', PluginData.encode({ version: 0, ...data }).finish());
}

/** The experiment: each hyper-parameter with the values it takes, and the metrics (scalar tags in each run). */
export function writeExperiment(w: EventWriter, hparams: Record<string, HParamValue[]>, metrics: { tag: string; displayName?: string; description?: string }[], name = ''): void {
  const hparam_infos = Object.entries(hparams).map(([key, values]) => {
    const kinds = new Set(values.map((v) => typeof v));
    const type = kinds.size === 1 ? DATA_TYPE[[...kinds][0] as keyof typeof DATA_TYPE] : DATA_TYPE.string;
    const domain = [...new Set(values.map((v) => (type === DATA_TYPE.string ? String(v) : v)))];
    return { name: key, type, domain_discrete: { values: domain.map(value) } };
  });
  const metric_infos = metrics.map((m) => ({ name: { tag: m.tag }, display_name: m.displayName ?? m.tag, description: m.description ?? '' }));
  write(w, '_hparams_/experiment', { experiment: { name, time_created_secs: Date.now() / 1000, hparam_infos, metric_infos } });
}

/** A run's values; runs with the same group (a point's seeds) are aggregated by TensorBoard. */
export function writeSessionStart(w: EventWriter, hparams: Record<string, HParamValue>, group: string, startSecs = Date.now() / 1000): void {
  write(w, '_hparams_/session_start_info', { session_start_info: { hparams: Object.fromEntries(Object.entries(hparams).map(([k, v]) => [k, value(v)])), group_name: group, start_time_secs: startSecs } });
}

export function writeSessionEnd(w: EventWriter, status: keyof typeof STATUS, endSecs = Date.now() / 1000): void {
  write(w, '_hparams_/session_end_info', { session_end_info: { status: STATUS[status], end_time_secs: endSecs } });
}
