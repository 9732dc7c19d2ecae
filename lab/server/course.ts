/**
 * The course, read-only over HTTP: its outline (title, terminals, layout,
 * pages), one rendered page at a time, and the course's own files (images)
 * from the course directory only. A page is rendered again whenever its file
 * changes, so an author editing markdown sees the change on reload.
 */
import type { Express } from 'express';
import { servableCourseFile } from '../course/files.js';
import { COURSE_FILES_ROUTE, renderPage } from '../course/render.js';
import type { Course } from '../course/schema.js';

/** What the client is told about the course. */
export interface CourseOutline {
  title: string;
  layout: Course['layout'];
  terminals: Course['terminals'];
  pages: { id: string; title: string; hasCheck: boolean; branchOf?: string }[];
}

export interface PageView {
  id: string;
  title: string;
  html: string;
  hasCheck: boolean;
  blocks: { id: string; terminalId: string; command: string; execute: boolean; maxInvocations: number | null }[];
}

export function setupCourseRoutes(app: Express, course: Course): void {
  app.get('/api/course', (_req, res) => {
    const outline: CourseOutline = {
      title: course.title,
      layout: course.layout,
      terminals: course.terminals,
      pages: course.pages.map((p) => ({ id: p.id, title: p.title, hasCheck: p.check !== undefined, ...(p.branchOf ? { branchOf: p.branchOf } : {}) })),
    };
    res.json(outline);
  });

  app.get('/api/pages/:id', (req, res) => {
    const page = course.pages.find((p) => p.id === req.params.id);
    if (!page) return void res.status(404).json({ error: `no page "${req.params.id}" in this course` });
    try {
      const rendered = renderPage(course, page);
      const view: PageView = {
        id: rendered.id,
        title: rendered.title,
        html: rendered.html,
        hasCheck: page.check !== undefined,
        blocks: rendered.blocks.map((b) => ({ id: b.id, terminalId: b.terminalId, command: b.command, execute: b.execute, maxInvocations: b.maxInvocations })),
      };
      res.json(view);
    } catch (err) {
      res.status(500).json({ error: `could not render page "${page.id}" (${page.file}): ${(err as Error).message}` });
    }
  });

  app.get(COURSE_FILES_ROUTE + '*path', (req, res) => {
    const parts = (req.params as { path: string[] }).path;
    const file = servableCourseFile(course.dir, parts.join('/'));
    if (!file) return void res.status(404).type('text/plain').send('not a course file\n');
    res.sendFile(file, { dotfiles: 'deny' }, (err) => {
      if (err && !res.headersSent) res.status(404).type('text/plain').send('no such course file\n');
    });
  });
}
