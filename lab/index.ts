/**
 * The lab engine's public face: what a course's own code (its panels) and
 * the rest of the project may use. The course format is described by its
 * types; a panel's server module exports `createPanel` (a PanelFactory), its
 * browser module `mount(host, context)` returning a PanelView. Everything
 * else in lab/ is the engine's own business (test/unit/seams.test.ts holds
 * the course to this file).
 */
export { startLab, type LabOptions, type LabServer } from './server/app.js';
export { courseCheck } from './course/check.js';
export { loadCourse } from './course/load.js';
export type { Block, Course, CourseProblem, EnvironmentSpec, PageSpec, PanelSpec, TerminalSpec } from './course/schema.js';
export type { PanelEnvironment, PanelFactory, PanelInstance } from './server/panels.js';
export type { PanelContext, PanelModule, PanelView } from './client/panels.js';
